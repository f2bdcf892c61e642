"""A practice's whole record in one archive and back (`kapflow export`, `kapflow import`), and
the installation's database backed up and restored (`kapflow backup`, `kapflow restore`).
Decision 0053; docs/deploy.md, "Backups" and "Moving a practice to another installation"."""
