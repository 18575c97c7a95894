package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of the tests that stop and start a PostgreSQL server: the shared test server
// (ORDERIMPORT_TEST_POSTGRES) serves other tests at the same time, so these run a throwaway
// cluster of their own. .ci/run sets both.
const (
	envPGBin  = "ORDERIMPORT_TEST_PGBIN"  // the directory of initdb, pg_ctl and postgres
	envPGUser = "ORDERIMPORT_TEST_PGUSER" // the OS user the server runs as when the tests run as root (initdb refuses root)
)

// pgCluster is a PostgreSQL server of one test, on loopback, which the test may stop and start.
type pgCluster struct {
	bin, dir, osUser string
	port             int
	opts             string
	URL              string
}

// newPGCluster initialises and starts a cluster with the given max_connections; it is
// stopped and removed when the test ends.
func newPGCluster(t *testing.T, maxConnections int) *pgCluster {
	t.Helper()
	// Under CI=true these legs are part of what CI proves (.ci/run sets the variables): a
	// missing one fails the test instead of skipping it, as for the shared server (pgtest).
	unavailable := t.Skipf
	if os.Getenv("CI") == "true" {
		unavailable = t.Fatalf
	}
	bin := os.Getenv(envPGBin)
	if bin == "" {
		unavailable("%s is not set: this test stops and starts a PostgreSQL server of its own (.ci/run sets it to the binaries of PostgreSQL)", envPGBin)
	}
	osUser := os.Getenv(envPGUser)
	if os.Geteuid() == 0 && osUser == "" {
		unavailable("running as root and %s is not set: initdb refuses root, the server needs an unprivileged user to run as", envPGUser)
	}
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			unavailable("no %s in %s (%s)", tool, bin, envPGBin)
		}
	}
	// Under /tmp, not t.TempDir(): the server's user must reach it.
	dir, err := os.MkdirTemp("", "oi-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{bin: bin, dir: dir, osUser: osUser}
	t.Cleanup(func() {
		_ = c.pgCtl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if osUser != "" {
		u, err := user.Lookup(osUser)
		if err != nil {
			t.Fatalf("%s=%s: %v", envPGUser, osUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.command("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c max_connections=%d -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
		c.port, dir, maxConnections)
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	c.start(t)
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// command runs a PostgreSQL tool as the cluster's user.
func (c *pgCluster) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.osUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.osUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/"
	return cmd
}

func (c *pgCluster) pgCtl(args ...string) error {
	out, err := c.command("pg_ctl", append([]string{"-D", c.data(), "-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// start starts the server and returns when it accepts connections.
func (c *pgCluster) start(t *testing.T) time.Time {
	t.Helper()
	if err := c.pgCtl("-l", filepath.Join(c.dir, "log"), "-o", c.opts, "start"); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// stopFast stops the server the way an operator restarting it does: sessions are ended,
// transactions in flight rolled back.
func (c *pgCluster) stopFast(t *testing.T) {
	t.Helper()
	if err := c.pgCtl("-m", "fast", "stop"); err != nil {
		t.Fatal(err)
	}
}
