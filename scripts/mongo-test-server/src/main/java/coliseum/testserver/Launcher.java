package coliseum.testserver;

import java.net.InetSocketAddress;
import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

/**
 * Starts mongo-java-server's in-memory backend on {@code HOST:PORT} (arguments; default
 * {@code 127.0.0.1 27017}) for Coliseum's MongoDB store tests.
 *
 * <p>The only change from mongo-java-server's own {@code InMemoryMongoServer}: the backend reports
 * server version 4.4.0 / maxWireVersion 9. mongo-java-server's newest enum value
 * ({@code ServerVersion.MONGO_5_0}) reports wire version 8, and the Rust driver 3.x refuses servers
 * below wire version 9 ("requires at least 9"). {@code MongoVersion} is an interface, so the launcher
 * supplies its own value. The server still has no replica set, no sessions and no transactions:
 * the Coliseum store detects that (no {@code setName} in the handshake) and uses its documented
 * non-transactional booking path.
 *
 * <p>Prints one line {@code mongo-test-server listening on HOST:PORT} once it accepts connections;
 * stops on SIGTERM/SIGINT.
 */
public final class Launcher {

    /** Server version 4.4.0, wire version 9: the oldest the Rust driver 3.x accepts. */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private Launcher() {
    }

    /**
     * Entry point.
     *
     * @param args optional {@code HOST} and {@code PORT}
     */
    public static void main(String[] args) {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 27017;
        MongoServer server = new MongoServer(new MemoryBackend().version(REPORTED_VERSION));
        server.bind(host, port);
        InetSocketAddress address = server.getLocalAddress();
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "mongo-test-server-stop"));
        System.out.println("mongo-test-server listening on " + address.getHostString() + ":" + address.getPort());
        System.out.flush();
    }
}
