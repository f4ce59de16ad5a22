"""Makes moto check signatures: its first three (unauthenticated) requests create an IAM user,
its access key and an allow-everything policy; from then on only that key's correct signatures
pass. Then creates the bucket and prints "ACCESS_KEY SECRET_KEY".

Usage: python3 moto_provision.py ENDPOINT BUCKET   (moto_server started with
INITIAL_NO_AUTH_ACTION_COUNT=3). Run with the python next to moto_server: it has boto3.
Used by the Swift tests (SlipwayTestSupport/MotoServer.swift) and Tests/e2e/test_cluster.py.
"""
import json
import sys

import boto3
from botocore.config import Config

endpoint, bucket = sys.argv[1], sys.argv[2]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="slipway")
key = iam.create_access_key(UserName="slipway")["AccessKey"]
iam.put_user_policy(UserName="slipway", PolicyName="everything", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"], config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket)
print(key["AccessKeyId"], key["SecretAccessKey"])
