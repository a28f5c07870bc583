package dev.sluice.connect;

import org.apache.kafka.connect.file.FileStreamSinkTask;

/** Kafka's FileStreamSinkTask reporting this plugin's version ({@link PluginVersion}). */
public class VersionedFileStreamSinkTask extends FileStreamSinkTask {
    @Override
    public String version() {
        return PluginVersion.get();
    }
}
