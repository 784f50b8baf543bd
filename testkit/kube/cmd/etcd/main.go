// etcd, built from go.etcd.io/etcd/server/v3 at the release k8s.io/kubernetes is
// tested with (pinned in go.mod). etcd's own go.mod carries local replace
// directives, so `go install` refuses it: this module is how it is built.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
