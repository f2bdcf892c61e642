"""The staff search page. The term is POSTed (decision 0007): a name never enters a URL,
a server log or the browser's history. A GET shows the empty form."""

from django.shortcuts import render

from kapflow.core.form_tokens import form_token_exempt
from kapflow.core.views import staff_actor
from kapflow.search.selectors import MAX_LENGTH, search


@form_token_exempt
def results(request):
    actor = staff_actor(request)
    term = request.POST.get("q", "") if request.method == "POST" else ""
    found = search(actor=actor, term=term) if term.strip() else None
    return render(
        request,
        "search/results.html",
        {"term": term.strip()[:MAX_LENGTH], "found": found, "max_length": MAX_LENGTH},
    )
