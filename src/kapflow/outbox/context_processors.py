from django.conf import settings


def demo(request):
    """`demo_mode` for the navigation: the outbox link is shown in demo mode only."""
    return {"demo_mode": settings.KAPFLOW_DEMO_MODE}
