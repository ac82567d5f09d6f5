// Command child is the program proctest's tests run. It listens on
// -addr (when set), logs "ready" to standard error, then logs "hup" on
// each SIGHUP; on SIGTERM it logs "stopped" and exits with status -exit.
// With -quit it exits with -exit right after "ready".
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", "", "the address to listen on")
	exit := flag.Int("exit", 0, "the exit status")
	quit := flag.Bool("quit", false, "exit after logging ready")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	if *addr != "" {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
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
