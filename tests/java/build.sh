#!/usr/bin/env bash
# Builds the Java test tooling (tests/java/pom.xml) from Maven Central: the reference Apache Kafka
# classpath (reference/target/classpath.txt), a Connect plugin in two versions
# (connect-plugin/target/connect-plugins/<version>/) and the Java client programs (clients/target/). Skips the
# build when nothing under tests/java changed since the last one. Needs a JDK 17+ and Maven.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
stamp=target/.built
newest=$(find pom.xml reference/pom.xml reference-newest/pom.xml clients connect-plugin -newer "$stamp" -type f 2>/dev/null | grep -v /target/ | head -1 || true)
if [ -f "$stamp" ] && [ -f reference/target/classpath.txt ] && [ -f reference-newest/target/classpath.txt ] && [ -d connect-plugin/target/connect-plugins ] && [ -f clients/target/classpath.txt ] && [ -z "$newest" ]; then
    exit 0
fi
mvn -q -B package
mkdir -p target && touch "$stamp"
