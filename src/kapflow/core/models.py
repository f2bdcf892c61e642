"""Shared model building blocks: the tenant queryset every organisation-owned model uses."""

from django.db import models


class TenantQuerySet(models.QuerySet):
    """Scopes rows to one organisation. Every selector on a tenant model starts with for_org."""

    def for_org(self, organisation):
        return self.filter(organisation=organisation)
