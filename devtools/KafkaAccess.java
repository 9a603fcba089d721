// Creates SCRAM-SHA-512 users and ACLs on a Kafka cluster through the Admin API, for the
// secured local broker (devtools/secured.py). Run with the Kafka jars on the class path:
//   java -cp '<libs>/*' devtools/KafkaAccess.java admin.properties < lines
// Each line of standard input is one of
//   user <name> <password>
//   acl <principal> <resource type> <name> <pattern type> <operation>
// (enum names of the Java client: TOPIC, GROUP, CLUSTER; LITERAL, PREFIXED; WRITE, READ, ...).
// One JVM for all of them: a JVM start costs seconds on a busy two-core machine.

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaAccess {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (InputStream in = Files.newInputStream(Path.of(args[0]))) {
            config.load(in);
        }
        List<UserScramCredentialAlteration> users = new ArrayList<>();
        List<AclBinding> acls = new ArrayList<>();
        BufferedReader lines = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = lines.readLine()) != null; ) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 3 && f[0].equals("user")) {
                ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192);
                users.add(new UserScramCredentialUpsertion(f[1], info, f[2]));
            } else if (f.length == 6 && f[0].equals("acl")) {
                ResourcePattern resource = new ResourcePattern(
                    ResourceType.valueOf(f[2]), f[3], PatternType.valueOf(f[4]));
                AccessControlEntry entry = new AccessControlEntry(
                    f[1], "*", AclOperation.valueOf(f[5]), AclPermissionType.ALLOW);
                acls.add(new AclBinding(resource, entry));
            } else if (!line.isBlank()) {
                throw new IllegalArgumentException("not a user or acl line: " + f[0]);
            }
        }
        try (Admin admin = Admin.create(config)) {
            if (!users.isEmpty()) {
                admin.alterUserScramCredentials(users).all().get();
            }
            if (!acls.isEmpty()) {
                admin.createAcls(acls).all().get();
            }
        }
        System.out.println(users.size() + " users, " + acls.size() + " ACLs");
    }
}
