"""Emergency access (decision 0036): after each request of a practice clinician holding an
open grant, mark the request's reads of a granted client with the grant (`breakglass.use`)
and record the expiry of lapsed grants.

Pages and the API alike: the actor is read after the view, when the API's token
authentication has set it. Sits inside ActorMiddleware (the rows carry its request
metadata) and after the MFA check. Anyone else costs no query; a clinician costs one (their
open grants), shared with the banner when the page rendered it.
"""

from kapflow import policy
from kapflow.core import clock
from kapflow.core.context import current_request_meta


class EmergencyAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = clock.now()
        response = self.get_response(request)
        actor = getattr(request, "actor", None)
        if not policy.can_open_emergency_access(actor):
            return response
        from kapflow.patients.selectors import emergency_grants_for_request
        from kapflow.patients.services import emergency_access_record_use

        grants = emergency_grants_for_request(request)
        if grants:
            # A failure here is a 500: a read under emergency access never leaves unmarked.
            emergency_access_record_use(
                actor=actor,
                grants=grants,
                since=started,
                request_id=current_request_meta().request_id,
            )
        return response
