// Package systemd holds OVM's systemd unit for a plain VM (ovm.service),
// the system user it runs as (ovm.sysusers), an example configuration
// (ovm.yaml) and environment (ovm.env), a drop-in for hosts with sign-up
// pools (signup.conf), and the test that verifies them with
// systemd-analyze and runs the real binary with the unit's command line.
// See docs/systemd.md.
package systemd
