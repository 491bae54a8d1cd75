"""ingest: each Pub/Sub event becomes one POST to the private billing service, with an ID token.

The token is Google-signed, minted from the metadata server for this function's own service account and
for billing's custom audience; no key file. A failure raises, so Eventarc retries the event.
"""

from __future__ import annotations

import base64
import os

import functions_framework
import google.auth.transport.requests
import google.oauth2.id_token
import requests


@functions_framework.cloud_event
def ingest(event) -> None:
    token = google.oauth2.id_token.fetch_id_token(
        google.auth.transport.requests.Request(), os.environ["BILLING_AUDIENCE"]
    )
    body = base64.b64decode(event.data["message"].get("data", ""))
    response = requests.post(
        f"{os.environ['BILLING_URL']}/events",
        data=body,
        # X-Serverless-Authorization: Cloud Run checks it and passes it on intact, so billing may verify it too.
        headers={"X-Serverless-Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )
    response.raise_for_status()
