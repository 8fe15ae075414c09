package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// natsAuth is how the commands authenticate to an external NATS server and
// check its certificate. Secrets come only from the environment or from
// files, never from flags (which other users of the machine can read in the
// process list), and are never logged.
type natsAuth struct {
	user         string
	passwordFile string
	tokenFile    string
	nkeyFile     string
	credsFile    string
	tlsCA        string
	tlsCert      string
	tlsKey       string
	inboxPrefix  string
}

func (a *natsAuth) register(pf *pflag.FlagSet, getenv func(string) string) {
	pf.StringVar(&a.user, "nats-user", getenv("LOYALTY_NATS_USER"),
		"NATS user; the password from LOYALTY_NATS_PASSWORD or --nats-password-file (env LOYALTY_NATS_USER)")
	pf.StringVar(&a.passwordFile, "nats-password-file", getenv("LOYALTY_NATS_PASSWORD_FILE"), "file holding the NATS user's password (env LOYALTY_NATS_PASSWORD_FILE)")
	pf.StringVar(&a.tokenFile, "nats-token-file", getenv("LOYALTY_NATS_TOKEN_FILE"),
		"file holding a NATS token (env LOYALTY_NATS_TOKEN_FILE; or the token itself in LOYALTY_NATS_TOKEN)")
	pf.StringVar(&a.nkeyFile, "nats-nkey", getenv("LOYALTY_NATS_NKEY"), "NKey seed file for NATS (env LOYALTY_NATS_NKEY)")
	pf.StringVar(&a.credsFile, "nats-creds", getenv("LOYALTY_NATS_CREDS"), "NATS credentials file (user JWT and NKey seed) (env LOYALTY_NATS_CREDS)")
	pf.StringVar(&a.tlsCA, "nats-tls-ca", getenv("LOYALTY_NATS_TLS_CA"), "CA certificate (PEM) that signed the NATS server's certificate (env LOYALTY_NATS_TLS_CA)")
	pf.StringVar(&a.tlsCert, "nats-tls-cert", getenv("LOYALTY_NATS_TLS_CERT"), "client certificate (PEM) for NATS with TLS client authentication (env LOYALTY_NATS_TLS_CERT)")
	pf.StringVar(&a.tlsKey, "nats-tls-key", getenv("LOYALTY_NATS_TLS_KEY"), "key (PEM) of --nats-tls-cert (env LOYALTY_NATS_TLS_KEY)")
	pf.StringVar(&a.inboxPrefix, "nats-inbox-prefix", getenv("LOYALTY_NATS_INBOX_PREFIX"),
		"subject prefix of this client's reply inboxes (default _INBOX): a user of its own, such as _INBOX_engine, so that a user's permissions can keep others' replies from it (env LOYALTY_NATS_INBOX_PREFIX)")
}

// options turns the settings into connection options, checking that they
// fit together and that the files can be read.
func (a natsAuth) options(getenv func(string) string) ([]nats.Option, error) {
	var opts []nats.Option
	var methods []string
	password, err := secret(getenv, "LOYALTY_NATS_PASSWORD", a.passwordFile, "--nats-password-file")
	if err != nil {
		return nil, err
	}
	token, err := secret(getenv, "LOYALTY_NATS_TOKEN", a.tokenFile, "--nats-token-file")
	if err != nil {
		return nil, err
	}
	switch {
	case a.user != "":
		if password == "" {
			return nil, errors.New("--nats-user needs a password: set LOYALTY_NATS_PASSWORD or pass --nats-password-file")
		}
		opts, methods = append(opts, nats.UserInfo(a.user, password)), append(methods, "--nats-user")
	case password != "":
		return nil, errors.New("a NATS password was given without --nats-user (or LOYALTY_NATS_USER)")
	}
	if token != "" {
		opts, methods = append(opts, nats.Token(token)), append(methods, "a token")
	}
	if a.nkeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(a.nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey %s: %w", a.nkeyFile, err)
		}
		opts, methods = append(opts, opt), append(methods, "--nats-nkey")
	}
	if a.credsFile != "" {
		if err := readable(a.credsFile, "--nats-creds"); err != nil {
			return nil, err
		}
		opts, methods = append(opts, nats.UserCredentials(a.credsFile)), append(methods, "--nats-creds")
	}
	if len(methods) > 1 {
		return nil, fmt.Errorf("NATS authentication given more than one way (%s): use one", strings.Join(methods, ", "))
	}
	if a.inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(a.inboxPrefix))
	}
	if a.tlsCA != "" {
		if err := readable(a.tlsCA, "--nats-tls-ca"); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(a.tlsCA))
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return nil, errors.New("--nats-tls-cert and --nats-tls-key go together: give both or neither")
	}
	if a.tlsCert != "" {
		for _, f := range [][2]string{{a.tlsCert, "--nats-tls-cert"}, {a.tlsKey, "--nats-tls-key"}} {
			if err := readable(f[0], f[1]); err != nil {
				return nil, err
			}
		}
		opts = append(opts, nats.ClientCert(a.tlsCert, a.tlsKey))
	}
	return opts, nil
}

// secret is the value of env, else the content of file (trimmed).
func secret(getenv func(string) string, env, file, flag string) (string, error) {
	if v := getenv(env); v != "" {
		return v, nil
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", flag, file)
	}
	return v, nil
}

func readable(path, flag string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return f.Close()
}

// redactURLs hides passwords and tokens in a NATS server list for messages.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u := parseNATSURL(p)
		switch {
		case u == nil:
			parts[i] = "(unreadable URL)"
		case u.User != nil:
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
