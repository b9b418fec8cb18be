"""Amazon ECR (private and Public) with botocore's credential chain.

The registry host gives account, region and FIPS / dual-stack (the pattern of
cloud-provider-aws's ecr-credential-provider); botocore maps region to
partition and endpoint, honours AWS_ENDPOINT_URL_ECR / _STS, proxies, IMDSv2,
web identity and profiles.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from nodecred.provider.retry import retry_after
from nodecred.provider.token import BackendError, Deadline, ThrottledError, Token

_PRIVATE = re.compile(
    r"^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\."
    r"(amazonaws\.com(?:\.cn)?|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn|sc2s\.sgov\.gov|c2s\.ic\.gov"
    r"|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
PUBLIC_HOSTS = ("public.ecr.aws", "ecr-public.aws.com")
_THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling"}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


@dataclass(frozen=True)
class EcrHost:
    account: str
    region: str
    fips: bool
    dual_stack: bool
    public: bool


def parse_host(host: str) -> EcrHost | None:
    """What the registry host says about where to ask; None for a host that is not ECR's."""
    if host in PUBLIC_HOSTS:
        return EcrHost("", "us-east-1", False, host == "ecr-public.aws.com", True)
    m = _PRIVATE.match(host)
    if not m:
        return None
    dual = m.group(4) in ("on.aws", "on.amazonwebservices.com.cn")
    return EcrHost(m.group(1), m.group(3), bool(m.group(2)), dual, False)


class EcrBackend:
    cacheable = True

    def __init__(self, role_arn: str, region: str) -> None:
        self.role_arn = role_arn
        self.region = region

    def cache_key(self, host: str) -> str:
        return f"ecr/{host}/{self.region}/{self.role_arn}"

    def _client(
        self, service: str, target: EcrHost, deadline: Deadline, credentials: dict[str, str] | None
    ) -> Any:
        import botocore.config
        import botocore.session

        session = botocore.session.get_session(env_vars=None)
        timeout = max(1.0, deadline.remaining())
        config = botocore.config.Config(
            connect_timeout=min(5.0, timeout),
            read_timeout=timeout,
            retries={"total_max_attempts": 1},  # one try per call: with_retry paces the rest
            use_fips_endpoint=target.fips,
            use_dualstack_endpoint=target.dual_stack,
        )
        kwargs: dict[str, Any] = {"region_name": self.region or target.region, "config": config}
        if credentials:
            kwargs.update(credentials)
        return session.create_client(service, **kwargs)

    def _assumed_credentials(self, target: EcrHost, deadline: Deadline) -> dict[str, str] | None:
        if not self.role_arn:
            return None
        sts = self._client("sts", target, deadline, None)
        creds = sts.assume_role(RoleArn=self.role_arn, RoleSessionName="nodecred-provider")["Credentials"]
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def _call(self, host: str, target: EcrHost, deadline: Deadline) -> tuple[str, float | None]:
        credentials = self._assumed_credentials(target, deadline)
        if target.public:
            data = self._client("ecr-public", target, deadline, credentials).get_authorization_token()
            entry = data["authorizationData"]
        else:
            data = self._client("ecr", target, deadline, credentials).get_authorization_token()
            entries = data.get("authorizationData") or []
            if not entries:
                raise BackendError(f"ECR returned no authorization data for {host}")
            entry = entries[0]
        expires = entry.get("expiresAt")
        return str(entry["authorizationToken"]), expires.timestamp() if expires is not None else None

    def fetch(self, host: str, deadline: Deadline) -> Token:
        import botocore.exceptions as bx

        target = parse_host(host)
        if target is None:
            raise BackendError(f"{host} is not an ECR registry host (<account>.dkr.ecr.<region>.<suffix>)")
        action = (
            "ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken"
            if target.public
            else "ecr:GetAuthorizationToken"
        )
        try:
            encoded, expires_at = self._call(host, target, deadline)
        except bx.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _THROTTLE_CODES or status == 429:
                headers = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                raise ThrottledError(
                    f"ECR throttled the token call ({code or status})", retry_after(headers)
                ) from None
            if code in _DENIED_CODES:
                what = f"sts:AssumeRole on {self.role_arn}" if err.operation_name == "AssumeRole" else action
                raise BackendError(f"AccessDenied: the node's AWS identity may not call {what}") from None
            raise BackendError(f"ECR {err.operation_name} failed: {code or status}") from None
        except bx.NoCredentialsError:
            raise BackendError(
                "no AWS credentials: give the node an instance profile (IMDSv2) or web identity with "
                + action
            ) from None
        except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as err:
            raise BackendError(f"cannot reach the ECR endpoint: {err}") from None
        except bx.BotoCoreError as err:
            raise BackendError(f"ECR token call failed: {err}") from None
        try:
            user, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise BackendError("ECR returned an authorization token that is not base64 of user:password")
        return Token(user, password, expires_at)


def build(options: dict[str, Any], env: dict[str, str]) -> EcrBackend:
    # botocore reads the process environment, which is where the kubelet puts the config's env.
    return EcrBackend(str(options.get("roleArn", "")), str(options.get("region", "")))
