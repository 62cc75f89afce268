package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestBindAllInterfacesAdvertiseOne: agents that listen on all interfaces
// (--raft-bind, --http-bind) and advertise one address form a cluster,
// register the advertised API addresses, forward writes between them, and
// answer on an address they do not advertise, as a container's agent
// answers kubectl port-forward on localhost while peers use its DNS name.
func TestBindAllInterfacesAdvertiseOne(t *testing.T) {
	c := startClusterWith(t, 3, func(c *cluster) { c.bindAll = true })
	leader := c.waitLeader(10 * time.Second)
	f := c.follower(leader)
	putWeb(t, f, "1s")
	advertised := map[string][2]string{}
	for _, nd := range c.nodes {
		advertised[nd.id] = [2]string{nd.raftAddr, nd.httpAddr}
	}
	eventually(t, 10*time.Second, "every member registered at its advertised addresses", func() error {
		info, err := f.client.Cluster(ctx(t))
		if err != nil {
			return err
		}
		for _, m := range info.Members {
			if want := advertised[m.ID]; m.RaftAddr != want[0] || m.HTTPAddr != want[1] {
				return fmt.Errorf("member %+v: want the advertised addresses %v", m, want)
			}
		}
		return nil
	})
	// 127.0.0.2 is loopback too, but no agent advertises it: only a socket
	// bound to all interfaces answers there.
	for _, nd := range c.nodes {
		_, port, _ := net.SplitHostPort(nd.httpAddr)
		other := c.newClient("127.0.0.2:" + port)
		eventually(t, 10*time.Second, nd.id+" answers on 127.0.0.2 with the replicated policy", func() error {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := other.GetPolicy(cctx, "web")
			return err
		})
	}
	// Raft listens on all interfaces as well.
	_, port, _ := net.SplitHostPort(leader.raftAddr)
	conn, err := net.DialTimeout("tcp", "127.0.0.2:"+port, 2*time.Second)
	if err != nil {
		t.Fatalf("raft port on 127.0.0.2: %v", err)
	}
	conn.Close()
}
