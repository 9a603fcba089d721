#!/usr/bin/env sh
# Creates the topics of SPEC section 3 with three partitions. Usage: topics.sh <bootstrap> [replication]
set -eu
bootstrap=${1:-127.0.0.1:9092}
replication=${2:-1}
for topic in actiepunten.scenario.v1 actiepunten.dossiercontrole.v1 platform.products.v1 \
    platform.appointments.v1 platform.documentlists.v1 actiepunten.scenario.dlq \
    actiepunten.dossiercontrole.dlq actiepunten.portal.dlq; do
    kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$topic" \
        --partitions 3 --replication-factor "$replication"
done
