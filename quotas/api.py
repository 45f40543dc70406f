from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quotas.sessions import jwks


class JwksView(APIView):
    """The public keys that verify session tokens (RFC 7517)."""

    def get(self, request: Request) -> Response:
        response = Response(jwks())
        response["Cache-Control"] = "public, max-age=3600"
        return response
