// kube-apiserver, built from k8s.io/kubernetes at the release pinned in go.mod,
// for the test harness's control plane (testkit::KubeControlPlane).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
