"""The S3 server the storage tests run against: a private Ceph RADOS Gateway (tests/ceph.py),
checked with an independent client (boto3) before the registry's own client is tested on it."""
import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError

from ceph import CephRgw, port_is_free

MIB = 1 << 20


def test_put_get_range_delete(ceph_rgw, uniq):
    s3 = ceph_rgw.client()
    key = f"{uniq}/object"
    body = os.urandom(3 * MIB + 17)
    s3.put_object(Bucket=ceph_rgw.bucket, Key=key, Body=body)
    got = s3.get_object(Bucket=ceph_rgw.bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)
    part = s3.get_object(Bucket=ceph_rgw.bucket, Key=key, Range="bytes=1048570-1048600")
    assert part["Body"].read() == body[1048570:1048601]
    assert part["ContentRange"] == f"bytes 1048570-1048600/{len(body)}"
    head = s3.head_object(Bucket=ceph_rgw.bucket, Key=key)
    assert head["ContentLength"] == len(body)
    s3.delete_object(Bucket=ceph_rgw.bucket, Key=key)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=ceph_rgw.bucket, Key=key)
    assert e.value.response["Error"]["Code"] in ("404", "NoSuchKey")


def test_multipart(ceph_rgw, uniq):
    s3 = ceph_rgw.client()
    key = f"{uniq}/multi"
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(123)]
    up = s3.create_multipart_upload(Bucket=ceph_rgw.bucket, Key=key)["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=ceph_rgw.bucket, Prefix=key).get("Uploads", [])
    assert [u["UploadId"] for u in listed] == [up]
    done = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=ceph_rgw.bucket, Key=key, UploadId=up, PartNumber=n, Body=data)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=ceph_rgw.bucket, Key=key, UploadId=up,
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    got = s3.get_object(Bucket=ceph_rgw.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(whole).digest()
    # a range across the boundary of parts 1 and 2
    cut = s3.get_object(Bucket=ceph_rgw.bucket, Key=key,
                        Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")["Body"].read()
    assert cut == whole[5 * MIB - 10:5 * MIB + 10]
    # an aborted upload leaves nothing behind
    up2 = s3.create_multipart_upload(Bucket=ceph_rgw.bucket, Key=key + "-aborted")["UploadId"]
    s3.upload_part(Bucket=ceph_rgw.bucket, Key=key + "-aborted", UploadId=up2, PartNumber=1,
                   Body=b"x" * 100)
    s3.abort_multipart_upload(Bucket=ceph_rgw.bucket, Key=key + "-aborted", UploadId=up2)
    listed = s3.list_multipart_uploads(Bucket=ceph_rgw.bucket, Prefix=uniq).get("Uploads", [])
    assert listed == []
    s3.delete_object(Bucket=ceph_rgw.bucket, Key=key)


def test_presigned_url(ceph_rgw, uniq):
    s3 = ceph_rgw.client()
    key = f"{uniq}/presigned"
    s3.put_object(Bucket=ceph_rgw.bucket, Key=key, Body=b"signed bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": ceph_rgw.bucket, "Key": key},
                                    ExpiresIn=60)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"signed bytes"
    # a tampered signature and an unsigned request are refused
    sig = url.rsplit("X-Amz-Signature=", 1)[1][:64]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert requests.get(bad, timeout=30).status_code == 403
    assert requests.get(f"{ceph_rgw.endpoint}/{ceph_rgw.bucket}/{key}",
                        timeout=30).status_code == 403
    s3.delete_object(Bucket=ceph_rgw.bucket, Key=key)


def test_clusters_are_private_and_stop_cleanly(ceph_rgw):
    """A second cluster beside the session's: its own folder, fsid, port and keys; stopping it
    ends its daemons, frees its port and removes its folder, and leaves the first one working."""
    other = CephRgw(bucket="other").start()
    try:
        assert other.fsid != ceph_rgw.fsid
        assert other.port != ceph_rgw.port and other.dir != ceph_rgw.dir
        assert other.access_key != ceph_rgw.access_key
        # the keys of one cluster mean nothing to the other
        with pytest.raises(ClientError):
            CephRgw.client(_with_endpoint(ceph_rgw, other.endpoint)).list_objects_v2(
                Bucket="other")
        other.client().put_object(Bucket="other", Key="k", Body=b"v")
        assert other.client().get_object(Bucket="other", Key="k")["Body"].read() == b"v"
    finally:
        folder, port = other.dir, other.port
        other.stop()
    assert not os.path.exists(folder)
    assert port_is_free(port)
    assert ceph_rgw.client().list_objects_v2(Bucket=ceph_rgw.bucket)["ResponseMetadata"][
        "HTTPStatusCode"] == 200


def _with_endpoint(rgw, endpoint):
    """A copy of rgw's client settings pointed at another endpoint."""
    clone = CephRgw.__new__(CephRgw)
    clone.__dict__.update(rgw.__dict__)
    clone.endpoint = endpoint
    return clone
