package dev.sluice.connect;

import org.apache.kafka.connect.file.FileStreamSourceTask;

/** Kafka's FileStreamSourceTask reporting this plugin's version ({@link PluginVersion}). */
public class VersionedFileStreamSourceTask extends FileStreamSourceTask {
    @Override
    public String version() {
        return PluginVersion.get();
    }
}
