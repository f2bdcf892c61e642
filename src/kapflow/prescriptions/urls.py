from django.urls import path

from kapflow.prescriptions import views

app_name = "prescriptions"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("referrals/", views.referral_list, name="referrals"),
    path("referrals/<int:referral_id>/", views.referral_detail, name="referral"),
    path("referrals/<int:referral_id>/accept/", views.referral_accept, name="accept"),
    path("referrals/<int:referral_id>/schedule/", views.referral_schedule, name="schedule"),
    path("referrals/<int:referral_id>/close/", views.referral_close, name="close"),
    path("referrals/<int:referral_id>/evaluation/", views.evaluation, name="evaluation"),
    path("courses/<int:course_id>/refer/", views.referral_new, name="refer"),
    path("courses/<int:course_id>/prescribe/", views.prescription_new, name="prescribe"),
    path("courses/<int:course_id>/followup/", views.followup_new, name="followup"),
    path("prescriptions/<int:prescription_id>/", views.prescription_detail, name="prescription"),
    path("prescriptions/<int:prescription_id>/fills/", views.dispense_new, name="dispense"),
    path("prescriptions/<int:prescription_id>/cancel/", views.prescription_cancel, name="cancel"),
    path("prescriptions/<int:prescription_id>/authorise/", views.dose_authorise, name="authorise"),
    path(
        "prescriptions/<int:prescription_id>/fills/<int:dispense_id>/ship/",
        views.dispense_ship,
        name="ship",
    ),
    path(
        "prescriptions/<int:prescription_id>/refills/<int:request_id>/decline/",
        views.refill_decline,
        name="refill_decline",
    ),
    path("icd/", views.icd_search, name="icd_search"),
    path("mine/doses/", views.dose_log, name="dose_log"),
]
