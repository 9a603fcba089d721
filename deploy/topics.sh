#!/usr/bin/env sh
# Creates the topics of SPEC section 3 with the settings of shared/events/topics.py (REGISTRY;
# tests/unit/test_topic_registry.py checks that this file agrees with it), and puts the settings
# right on topics that exist already. Usage: topics.sh <bootstrap> [replication]
#
# Our own topics (actiepunten.*) keep every record: a replay or a new read model rebuilds from
# their beginning. The platform.* topics belong to the platform teams; the line below creates
# them the same way where nobody else does (a test or staging cluster). Where they manage them,
# delete those lines; each service reports a finite retention there as a warning at start-up.
set -eu
bootstrap=${1:-127.0.0.1:9092}
replication=${2:-1}
keep_forever="retention.ms=-1,retention.bytes=-1"
for topic in actiepunten.scenario.v1 actiepunten.dossiercontrole.v1 \
    actiepunten.scenario.dlq actiepunten.dossiercontrole.dlq actiepunten.portal.dlq \
    platform.products.v1 platform.appointments.v1 platform.documentlists.v1; do
    kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$topic" \
        --partitions "${ACTIEPUNTEN_PARTITIONS:-3}" --replication-factor "$replication" \
        --config retention.ms=-1 --config retention.bytes=-1
    kafka-configs.sh --bootstrap-server "$bootstrap" --alter --entity-type topics \
        --entity-name "$topic" --add-config "$keep_forever"
done
