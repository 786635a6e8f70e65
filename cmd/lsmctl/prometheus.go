package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsmstore/lsmstore/s3"
)

// defaultTokenExpiry is how long a generated metrics token is valid: as
// long as mc admin prometheus generate makes them (100 years), so a
// scrape config keeps working; rotating the root secret revokes it.
const defaultTokenExpiry = 100 * 365 * 24 * time.Hour

func prometheusCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prometheus",
		Short: "Prometheus scraping of lsmd's metrics",
	}
	var expiry time.Duration
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Print a Prometheus scrape config with a bearer token for --endpoint (like mc admin prometheus generate)",
		Long: "Prints a scrape_configs entry for lsmd's /minio/v2/metrics/cluster with a bearer token: a JWT signed\n" +
			"(HS512) with the root secret key, subject the root access key, issuer prometheus. Anyone holding it can\n" +
			"read the metrics until it expires or the root secret changes; keep it as secret as the config that holds it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep := g.endpoint
			if !strings.Contains(ep, "://") {
				ep = "http://" + ep
			}
			u, err := url.Parse(ep)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return fmt.Errorf("--endpoint %q is not an http(s) URL", g.endpoint)
			}
			if expiry <= 0 {
				return fmt.Errorf("--expiry must be positive")
			}
			tok, err := s3.NewMetricsToken(g.accessKey, g.secretKey, expiry, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "scrape_configs:\n- job_name: lsmd\n  bearer_token: %s\n  metrics_path: /minio/v2/metrics/cluster\n  scheme: %s\n  static_configs:\n  - targets: [%s]\n",
				tok, u.Scheme, u.Host)
			return nil
		},
	}
	gen.Flags().DurationVar(&expiry, "expiry", defaultTokenExpiry, "how long the token is valid")
	cmd.AddCommand(gen)
	return cmd
}
