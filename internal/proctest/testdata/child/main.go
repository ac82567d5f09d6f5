// Command child is the program proctest's tests run. It listens on
// -addr (when set), logs "ready" to standard error, then logs "hup" on
// each SIGHUP; on SIGTERM it logs "stopped" and exits with status -exit.
// With -quit it exits with -exit right after "ready". With -slog text or
// json, it logs "serving" and the address it listens on with log/slog's
// handler of that name before "ready".
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", "", "the address to listen on")
	exit := flag.Int("exit", 0, "the exit status")
	quit := flag.Bool("quit", false, "exit after logging ready")
	format := flag.String("slog", "", "log the address listened on with slog's text or json handler")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	if *addr != "" {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		switch *format {
		case "text":
			slog.New(slog.NewTextHandler(os.Stderr, nil)).Info("serving", "addr", ln.Addr().String(), "note", "a value with spaces")
		case "json":
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("serving", "addr", ln.Addr().String(), "note", "a value with spaces")
		}
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
	}
	fmt.Fprintln(os.Stderr, "ready")
	if *quit {
		os.Exit(*exit)
	}
	for s := range sigs {
		if s == syscall.SIGHUP {
			fmt.Fprintln(os.Stderr, "hup")
			continue
		}
		fmt.Fprintln(os.Stderr, "stopped")
		os.Exit(*exit)
	}
}
