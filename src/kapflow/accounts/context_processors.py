def actor(request):
    return {
        "actor": getattr(request, "actor", None),
        "memberships": getattr(request, "memberships", []),
    }
