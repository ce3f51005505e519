import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Helper for deploy/local/kafka.sh: waits until the local broker answers and creates the
 * missing topics, all in one JVM, because each JVM start costs one to two seconds.
 *
 * <p>Usage: {@code KafkaTopics BOOTSTRAP PARTITIONS TIMEOUT_SECONDS [NAME[:compact][:N] ...]}.
 * A topic gets N partitions when its spec ends in ":N", PARTITIONS otherwise. It prints one line
 * per requested topic, warns on stderr when an existing topic has another partition count or
 * cleanup policy than requested, and exits 1 with a single "kafka.sh:" line on stderr when the
 * broker does not answer in time or a topic cannot be created.
 */
public final class KafkaTopics {
    private KafkaTopics() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 3) {
            fail("usage: KafkaTopics BOOTSTRAP PARTITIONS TIMEOUT_SECONDS [NAME[:compact][:N] ...]");
        }
        String bootstrap = args[0];
        int partitions = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
        Map<String, Spec> wanted = new LinkedHashMap<>();
        for (int i = 3; i < args.length; i++) {
            String name = args[i];
            int count = partitions;
            int colon = name.lastIndexOf(':');
            if (colon >= 0 && name.substring(colon + 1).matches("[0-9]+")) {
                count = Integer.parseInt(name.substring(colon + 1));
                name = name.substring(0, colon);
            }
            boolean compact = name.endsWith(":compact");
            wanted.put(compact ? name.substring(0, name.length() - 8) : name, new Spec(count, compact));
        }

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        try (Admin admin = Admin.create(props)) {
            // Retry the whole list-and-create step until the deadline: right after start the
            // broker may still be catching up with the metadata log and answer retriably.
            while (true) {
                try {
                    ensure(admin, wanted);
                    return;
                } catch (ExecutionException | RuntimeException e) {
                    Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                    boolean retriable = cause instanceof RetriableException;
                    if (!retriable || System.nanoTime() > deadline) {
                        fail((retriable ? "broker at " + bootstrap + " not ready: " : "topic setup failed: ")
                                + cause.getClass().getSimpleName() + ": " + cause.getMessage());
                    }
                    Thread.sleep(200);
                }
            }
        }
    }

    /** What a topic spec asks for. */
    private static final class Spec {
        final int partitions;
        final boolean compact;

        Spec(int partitions, boolean compact) {
            this.partitions = partitions;
            this.compact = compact;
        }
    }

    /** Creates the missing topics, then prints and checks every requested topic. */
    private static void ensure(Admin admin, Map<String, Spec> wanted)
            throws ExecutionException, InterruptedException {
        admin.describeCluster().nodes().get();
        Set<String> existing = admin.listTopics().names().get();
        List<NewTopic> missing = new ArrayList<>();
        for (Map.Entry<String, Spec> topic : wanted.entrySet()) {
            if (!existing.contains(topic.getKey())) {
                NewTopic create = new NewTopic(topic.getKey(), topic.getValue().partitions, (short) 1);
                if (topic.getValue().compact) {
                    create.configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
                }
                missing.add(create);
            }
        }
        for (KafkaFuture<Void> created : admin.createTopics(missing).values().values()) {
            try {
                created.get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        }
        if (wanted.isEmpty()) {
            return;
        }

        Map<String, TopicDescription> described = admin.describeTopics(wanted.keySet()).allTopicNames().get();
        Collection<ConfigResource> resources = new ArrayList<>();
        for (String name : wanted.keySet()) {
            resources.add(new ConfigResource(ConfigResource.Type.TOPIC, name));
        }
        Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all().get();
        for (Map.Entry<String, Spec> topic : wanted.entrySet()) {
            String name = topic.getKey();
            Spec spec = topic.getValue();
            int count = described.get(name).partitions().size();
            String policy = configs.get(new ConfigResource(ConfigResource.Type.TOPIC, name))
                    .get(TopicConfig.CLEANUP_POLICY_CONFIG).value();
            System.out.printf("    %-42s partitions=%d cleanup.policy=%s%s%n", name, count, policy,
                    existing.contains(name) ? "" : " (created)");
            String expected = spec.compact ? TopicConfig.CLEANUP_POLICY_COMPACT : TopicConfig.CLEANUP_POLICY_DELETE;
            if (count != spec.partitions || !policy.equals(expected)) {
                System.err.printf("kafka.sh: warning: topic %s exists with partitions=%d cleanup.policy=%s,"
                        + " not partitions=%d cleanup.policy=%s%n", name, count, policy, spec.partitions, expected);
            }
        }
    }

    private static void fail(String message) {
        System.err.println("kafka.sh: " + message.replace('\n', ' '));
        System.exit(1);
    }
}
