"""File bodies from kubernetes pkg/credentialprovider/plugin/config_test.go
(Test_readCredentialProviderConfig), byte for byte: the config hashes depend on them."""

ONE_PLUGIN = """---
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/v1alpha1
providers:
  - name: test
    matchImages:
    - "registry.io/foobar"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/v1alpha1
    args:
    - --v=5
    env:
    - name: FOO
      value: BAR"""

ONE_PLUGIN_JSON = (
    '{\n\t\t\t\t  "kind": "CredentialProviderConfig",\n'
    '\t\t\t\t  "apiVersion": "kubelet.config.k8s.io/v1alpha1",\n'
    '\t\t\t\t  "providers": [\n'
    "\t\t\t\t\t{\n"
    '\t\t\t\t\t  "name": "test",\n'
    '\t\t\t\t\t  "matchImages": [\n'
    '\t\t\t\t\t\t"registry.io/foobar"\n'
    "\t\t\t\t\t  ],\n"
    '\t\t\t\t\t  "defaultCacheDuration": "10m",\n'
    '\t\t\t\t\t  "apiVersion": "credentialprovider.kubelet.k8s.io/v1alpha1",\n'
    '\t\t\t\t\t  "args": [\n'
    '\t\t\t\t\t\t"--v=5"\n'
    "\t\t\t\t\t  ],\n"
    '\t\t\t\t\t  "env": [\n'
    "\t\t\t\t\t\t{\n"
    '\t\t\t\t\t\t  "name": "FOO",\n'
    '\t\t\t\t\t\t  "value": "BAR"\n'
    "\t\t\t\t\t\t}\n"
    "\t\t\t\t\t  ]\n"
    "\t\t\t\t\t}\n"
    "\t\t\t\t  ]\n"
    "\t\t\t\t}"
)

WILDCARD = ONE_PLUGIN.replace('"registry.io/foobar"', '"registry.io/*"')
MULTI_MATCH = ONE_PLUGIN.replace(
    '    - "registry.io/foobar"', '    - "registry.io/*"\n    - "foobar.registry.io/*"'
)


def multi_providers(version: str) -> str:
    return f"""---
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/{version}
providers:
  - name: test1
    matchImages:
    - "registry.io/one"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/{version}
  - name: test2
    matchImages:
    - "registry.io/two"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/{version}
    args:
    - --v=5
    env:
    - name: FOO
      value: BAR"""


WRONG_KIND = ONE_PLUGIN.replace("kind: CredentialProviderConfig", "kind: WrongKind")
WRONG_APIVERSION = ONE_PLUGIN.replace(
    "apiVersion: kubelet.config.k8s.io/v1alpha1", "apiVersion: foobar/v1alpha1"
)
TYPO = """---
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/v1
providers:
  - name: test
    matchImages:
    - "registry.io/foobar"
    defaultCacheDuration: 10m
    unknownField: should not be here # this field should not be here
    apiVersion: credentialprovider.kubelet.k8s.io/v1alpha1
    args:
    - --v=5
    env:
    - name: FOO
      value: BAR"""


def token_attributes_in(version: str) -> str:
    return f"""---
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/{version}
providers:
  - name: test
    matchImages:
    - "registry.io/foobar"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/{version}
    tokenAttributes:
      serviceAccountTokenAudience: audience
    args:
    - --v=5
    env:
    - name: FOO
      value: BAR"""


def v1_single(name: str, image: str, duration: str, kind: str = "CredentialProviderConfig") -> str:
    return f"""---
kind: {kind}
apiVersion: kubelet.config.k8s.io/v1
providers:
  - name: {name}
    matchImages:
    - "{image}"
    defaultCacheDuration: {duration}
    apiVersion: credentialprovider.kubelet.k8s.io/v1"""


BETA_SINGLE = """---
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/v1beta1
providers:
  - name: test-beta
    matchImages:
    - "beta.registry.io/*"
    defaultCacheDuration: 15m
    apiVersion: credentialprovider.kubelet.k8s.io/v1beta1"""


def json_single(name: str, image: str, duration: str) -> str:
    return f"""{{
  "kind": "CredentialProviderConfig",
  "apiVersion": "kubelet.config.k8s.io/v1",
  "providers": [
    {{
      "name": "{name}",
      "matchImages": [
        "{image}"
      ],
      "defaultCacheDuration": "{duration}",
      "apiVersion": "credentialprovider.kubelet.k8s.io/v1"
    }}
  ]
}}"""
