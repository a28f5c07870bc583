package dev.sluice.connect;

/**
 * The version of this plugin: the Implementation-Version in the manifest of the jar its classes were loaded
 * from (1.0.0 or 2.0.0, see tests/java/connect-plugin/pom.xml), "unknown" outside a jar.
 *
 * Kafka's own file connectors report kafka-clients' AppInfoParser version instead, which a worker always
 * loads from its own classpath: two installed releases of connect-file report the same version, and on a
 * Kafka 4.2+ worker (where AppInfoParser moved to an internal package) they fail to report any.
 */
final class PluginVersion {
    private PluginVersion() {
    }

    static String get() {
        String v = PluginVersion.class.getPackage().getImplementationVersion();
        return v != null ? v : "unknown";
    }
}
