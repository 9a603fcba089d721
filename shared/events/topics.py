"""Topic names (SPEC section 3) and the partition counts the project creates them with."""

SCENARIO = "actiepunten.scenario.v1"
DOSSIERCONTROLE = "actiepunten.dossiercontrole.v1"
PRODUCTS = "platform.products.v1"
APPOINTMENTS = "platform.appointments.v1"
DOCUMENT_LISTS = "platform.documentlists.v1"

SCENARIO_DLQ = "actiepunten.scenario.dlq"
DOSSIERCONTROLE_DLQ = "actiepunten.dossiercontrole.dlq"
PORTAL_DLQ = "actiepunten.portal.dlq"

PARTITIONS = 3

TOPICS: dict[str, int] = {
    name: PARTITIONS
    for name in (
        SCENARIO,
        DOSSIERCONTROLE,
        PRODUCTS,
        APPOINTMENTS,
        DOCUMENT_LISTS,
        SCENARIO_DLQ,
        DOSSIERCONTROLE_DLQ,
        PORTAL_DLQ,
    )
}
