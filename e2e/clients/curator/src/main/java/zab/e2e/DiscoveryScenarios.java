/*
 * Service discovery (curator-x-discovery): two registrars on members 1 and 2 register instances
 * (ephemeral znodes with JSON bodies), a querier on member 3 lists names and instances, keeps a
 * ServiceCache and a ServiceProvider; then an instance is unregistered, one updated, and the
 * second registrar's client closes (its instances go with its session). Instances are printed
 * sorted by id: the recipe keeps them in listing order, which ZooKeeper does not promise.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.x.discovery.ServiceCache;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.strategies.RoundRobinStrategy;

final class DiscoveryScenarios {
    private DiscoveryScenarios() {}

    private static ServiceInstance<String> instance(String name, String id, int port, String payload) throws Exception {
        return ServiceInstance.<String>builder()
                .name(name)
                .id(id)
                .address("127.0.0.1")
                .port(port)
                .payload(payload)
                .serviceType(ServiceType.DYNAMIC)
                .registrationTimeUTC(0)
                .build();
    }

    private static ServiceDiscovery<String> discovery(Env env, CuratorFramework c, String base) throws Exception {
        ServiceDiscovery<String> d = env.closeLater(ServiceDiscoveryBuilder.builder(String.class)
                .client(c)
                .basePath(base)
                .build());
        d.start();
        return d;
    }

    private static String show(Collection<ServiceInstance<String>> instances) {
        List<ServiceInstance<String>> l = new ArrayList<>(instances);
        l.sort((x, y) -> x.getId().compareTo(y.getId()));
        return l.stream()
                .map(i -> i.getId() + "@" + i.getAddress() + ":" + i.getPort() + "/" + i.getPayload() + "/" + i.getServiceType())
                .collect(Collectors.joining(" "));
    }

    private static String ids(Collection<ServiceInstance<String>> instances) {
        return instances.stream().map(ServiceInstance::getId).sorted().collect(Collectors.joining(" "));
    }

    static void discovery(Env env) throws Exception {
        String base = env.path("services");
        ServiceDiscovery<String> d1 = discovery(env, env.client(0), base);
        CuratorFramework c2 = env.client(1);
        ServiceDiscovery<String> d2 = discovery(env, c2, base);
        ServiceDiscovery<String> q = discovery(env, env.client(2), base);
        d1.registerService(instance("api", "api-1", 9001, "zone-a"));
        d1.registerService(instance("api", "api-2", 9002, "zone-a"));
        d2.registerService(instance("api", "api-3", 9003, "zone-b"));
        d2.registerService(instance("web", "web-1", 8080, "zone-b"));
        Env.until("the querier sees 3 api instances", () -> count(q, "api") == 3);
        Env.line("names: " + new TreeSet<>(q.queryForNames()));
        Env.line("api: " + show(q.queryForInstances("api")));
        Env.line("web: " + show(q.queryForInstances("web")));
        ServiceInstance<String> one = q.queryForInstance("api", "api-2");
        Env.line("api-2 alone: " + (one == null ? "none" : show(List.of(one))));
        Env.line("missing id: " + (q.queryForInstance("api", "api-9") == null ? "none" : "found"));

        ServiceCache<String> cache = env.closeLater(q.serviceCacheBuilder().name("api").build());
        cache.start();
        Env.line("cache: " + ids(cache.getInstances()));
        ServiceProvider<String> provider = env.closeLater(q.serviceProviderBuilder()
                .serviceName("api")
                .providerStrategy(new RoundRobinStrategy<>())
                .build());
        provider.start();
        TreeSet<String> handedOut = new TreeSet<>();
        for (int i = 0; i < 6; i++) {
            handedOut.add(provider.getInstance().getId());
        }
        Env.line("provider hands out (6 calls, distinct ids): " + handedOut);

        d1.unregisterService(instance("api", "api-2", 9002, "zone-a"));
        Env.until("the cache drops api-2", () -> ids(cache.getInstances()).equals("api-1 api-3"));
        Env.line("after unregistering api-2, cache: " + ids(cache.getInstances()));
        d2.updateService(instance("api", "api-3", 9003, "zone-c"));
        Env.until("the cache sees api-3's new payload", () -> payloadOf(cache, "api-3").equals("zone-c"));
        Env.line("after updating api-3: " + show(cache.getInstances()));
        c2.close();
        Env.until("api-3 and web-1 go with the closed session", () -> count(q, "api") == 1 && count(q, "web") == 0);
        Env.line("after the second registrar's session closed, api: " + show(q.queryForInstances("api"))
                + "; web: [" + show(q.queryForInstances("web")) + "]; names: " + new TreeSet<>(q.queryForNames()));
        Env.until("the cache drops api-3", () -> ids(cache.getInstances()).equals("api-1"));
        Env.line("cache: " + ids(cache.getInstances()));
        Env.line("provider's instances: " + ids(provider.getAllInstances()));
    }

    private static int count(ServiceDiscovery<String> d, String name) {
        try {
            return d.queryForInstances(name).size();
        } catch (Exception e) {
            return -1;
        }
    }

    private static String payloadOf(ServiceCache<String> cache, String id) {
        return cache.getInstances().stream()
                .filter(i -> i.getId().equals(id))
                .map(i -> String.valueOf(i.getPayload()))
                .findFirst()
                .orElse("");
    }
}
