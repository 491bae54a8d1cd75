import pulumi
from components.bucket import Store
from components.shared_imports import MARKER

store = Store("media")
pulumi.export("marker", MARKER)
pulumi.export("bucket_url", store.bucket.url)
