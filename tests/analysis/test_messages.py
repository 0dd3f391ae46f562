from mainsail.analysis import MESSAGE_TYPES, Level

# Codes are stable: a code never changes meaning, Istio's keep Istio's level.
EXPECTED = {
    "IST0002": ("Deprecated", Level.WARNING),
    "IST0101": ("ReferencedResourceNotFound", Level.ERROR),
    "IST0106": ("SchemaValidationError", Level.ERROR),
    "IST0107": ("MisplacedAnnotation", Level.WARNING),
    "IST0108": ("UnknownAnnotation", Level.WARNING),
    "IST0109": ("ConflictingMeshGatewayVirtualServiceHosts", Level.ERROR),
    "IST0110": ("ConflictingSidecarWorkloadSelectors", Level.ERROR),
    "IST0111": ("MultipleSidecarsWithoutWorkloadSelectors", Level.ERROR),
    "IST0112": ("VirtualServiceDestinationPortSelectorRequired", Level.ERROR),
    "IST0116": ("DeploymentAssociatedToMultipleServices", Level.WARNING),
    "IST0118": ("PortNameIsNotUnderNamingConvention", Level.INFO),
    "IST0127": ("NoMatchingWorkloadsFound", Level.WARNING),
    "IST0128": ("NoServerCertificateVerificationDestinationLevel", Level.WARNING),
    "IST0129": ("NoServerCertificateVerificationPortLevel", Level.WARNING),
    "IST0130": ("VirtualServiceUnreachableRule", Level.WARNING),
    "IST0131": ("VirtualServiceIneffectiveMatch", Level.INFO),
    "IST0132": ("VirtualServiceHostNotFoundInGateway", Level.WARNING),
    "IST0133": ("SchemaWarning", Level.WARNING),
    "IST0134": ("ServiceEntryAddressesRequired", Level.WARNING),
    "IST0135": ("DeprecatedAnnotation", Level.INFO),
    "IST0137": ("DeploymentConflictingPorts", Level.WARNING),
    "IST0138": ("GatewayDuplicateCertificate", Level.WARNING),
    "IST0140": ("IngressRouteRulesNotAffected", Level.WARNING),
    "IST0145": ("ConflictingGateways", Level.ERROR),
    "IST0149": ("JwtClaimBasedRoutingWithoutRequestAuthN", Level.ERROR),
    "IST0162": ("GatewayPortNotDefinedOnService", Level.WARNING),
    "IST0173": ("DestinationRuleSubsetNotSelectPods", Level.ERROR),
    "IST0174": ("UnknownDestinationRuleHost", Level.WARNING),
    "MSA0001": ("VirtualServiceNotAppliedToSidecars", Level.INFO),
    "MSA0002": ("ConflictingGatewayVirtualServiceHosts", Level.WARNING),
    "MSA0003": ("ShadowedVirtualServiceHost", Level.INFO),
    "MSA0004": ("SidecarFieldNotAppliedLocally", Level.INFO),
}


def test_message_table_is_pinned() -> None:
    assert {t.code: (t.name, t.level) for t in MESSAGE_TYPES} == EXPECTED


def test_only_istio_codes_link_to_istio_docs() -> None:
    for t in MESSAGE_TYPES:
        url = t.documentation_url
        assert (url is not None) == t.code.startswith("IST")
