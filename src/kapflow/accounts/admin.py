"""Django admin is for platform staff only (is_staff, MFA enforced by middleware).

Client records are deliberately absent: PHI is reached through the product, where every read
is scoped and audited.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from kapflow.accounts.models import (
    ClinicianLicence,
    Membership,
    MembershipRole,
    Organisation,
    Partnership,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_staff")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name", "npi")}),
        ("Platform", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()
    list_filter = ("is_active", "is_staff")


class MembershipRoleInline(admin.TabularInline):
    model = MembershipRole
    extra = 0


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "is_active")
    list_filter = ("organisation",)
    inlines = [MembershipRoleInline]
    raw_id_fields = ("user",)


admin.site.register(Organisation)
admin.site.register(Partnership)
admin.site.register(ClinicianLicence)


# django-otp's own device admins would show plain seeds and codes, and a device made there
# is not one kapflow verifies: MFA devices are kapflow's (decision 0034), never edited here.
def _unregister_otp_admins() -> None:
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for model in (TOTPDevice, StaticDevice):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_otp_admins()
