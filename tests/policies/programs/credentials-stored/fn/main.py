"""A function's source, as uploaded: nothing in it but code."""


def handler(request):
    return "ok"
