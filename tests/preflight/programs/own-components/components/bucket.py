import pulumi
from components.shared_imports import storage


class Store(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("own:storage:Store", name)
        self.bucket = storage.Bucket(name, location="EU", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"url": self.bucket.url})
