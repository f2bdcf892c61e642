from django.urls import path

from kapflow.accounts import views

app_name = "accounts"
urlpatterns = [
    path("sign-in/", views.SignInView.as_view(), name="login"),
    path("sign-out/", views.sign_out, name="logout"),
    path("mfa/verify/", views.mfa_verify, name="mfa_verify"),
    path("mfa/setup/", views.mfa_setup, name="mfa_setup"),
    path("mfa/recovery-codes/", views.recovery_codes_regenerate, name="recovery_codes"),
    path("security/", views.security, name="security"),
    path("security/time-zone/", views.time_zone, name="time_zone"),
    path("security/password/", views.password_change, name="password_change"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_sent, name="password_reset_sent"),
    path("password-reset/done/", views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("security/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("organisations/switch/", views.switch_organisation, name="switch"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/", views.member_detail, name="member"),
    path(
        "invitations/<int:invitation_id>/<str:action>/",
        views.invitation_action,
        name="invitation_action",
    ),
    path("invite/<str:token>/", views.invitation_accept, name="invitation"),
]
