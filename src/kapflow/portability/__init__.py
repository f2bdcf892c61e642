"""A practice's whole record in one archive and back (`kapflow export`, `kapflow import`), and
the installation's database backed up and restored (`kapflow backup`, `kapflow restore`).
Decision 0050; docs/deploy.md, "Backup and restore" and "Moving a practice"."""
