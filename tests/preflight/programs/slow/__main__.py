"""A program that takes a while (a long-running program's stand-in): one topic, a pause, one more topic."""

import time

import pulumi_gcp as gcp

gcp.pubsub.Topic("first")
time.sleep(2.0)  # longer than preflight waits before it shows its progress line
gcp.pubsub.Topic("second")
