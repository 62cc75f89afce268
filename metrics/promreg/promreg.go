// Package promreg registers the daemon's own Prometheus collectors so that
// several components may share one registry: a component created twice on
// the same registry (two API handlers, two readers of one source kind)
// counts into the collectors the first one registered instead of failing.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it. When reg already holds a
// collector with the same descriptors, of c's type, it returns that one
// instead. With a nil reg it returns c unregistered. Any other failure is
// returned with c, so a caller that ignores the error still has a working
// (if unexported) collector.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
