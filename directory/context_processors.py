from django.conf import settings


def honbu(request):
    return {"HONBU_SITE_NAME": settings.HONBU_SITE_NAME}
