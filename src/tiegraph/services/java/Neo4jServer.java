// Runs a Neo4j 5 community server in-process with Bolt on a loopback address.
// Launched by `tiegraph services up` as: java -cp "<lib>/*" Neo4jServer.java HOME HOST:PORT PAGECACHE TXMAX
// (the Java 11+ source launcher compiles it at start, so there is no build step).
import java.nio.file.Path;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public class Neo4jServer {
    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]);
        String[] hostPort = args[1].split(":");
        long pageCacheMb = Long.parseLong(args[2]);
        long txMaxMb = Long.parseLong(args[3]);
        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(hostPort[0], Integer.parseInt(hostPort[1])))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                // Loopback only, so no authentication: see README "Configuration" for production.
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size, ByteUnit.mebiBytes(txMaxMb))
                // Transaction logs serve backups and clustering, neither of which a local server
                // has; the default keeps two days of them, which repeated bench runs grew to 7.6 GB.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "512M size")
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(service::shutdown));
        System.out.println("tiegraph-neo4j ready on bolt://" + args[1]);
        System.out.flush();
        Thread.currentThread().join();
    }
}
