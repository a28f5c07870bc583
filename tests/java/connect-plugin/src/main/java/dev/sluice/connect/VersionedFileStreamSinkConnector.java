package dev.sluice.connect;

import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.file.FileStreamSinkConnector;

/**
 * Kafka's FileStreamSinkConnector (connect-file) reporting this plugin's version ({@link PluginVersion}),
 * with tasks that do the same ({@link VersionedFileStreamSinkTask}): the connector tests/test_connect.py
 * chooses a version of with connector.plugin.version (KIP-891), and runs on Kafka 4.2+ workers too.
 */
public class VersionedFileStreamSinkConnector extends FileStreamSinkConnector {
    @Override
    public String version() {
        return PluginVersion.get();
    }

    @Override
    public Class<? extends Task> taskClass() {
        return VersionedFileStreamSinkTask.class;
    }
}
