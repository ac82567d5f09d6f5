package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The SPEC §6 vector, through the command.
func TestSignPrintsHeaders(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{
		"-id", "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "-secret", "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC",
		"-date", "Mon, 19 Mar 2018 12:08:40 GMT", "-H", "Source: AndriodApp",
	}, &out, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := "X-Date: Mon, 19 Mar 2018 12:08:40 GMT\n" +
		"Source: AndriodApp\n" +
		`Authorization: hmac id="AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", algorithm="hmac-sha1", headers="x-date source", signature="NI05zGaK4h8BfAh6EQ05ZJ2vG4k="` + "\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestSignRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-id", "x"},
		{"-id", "x", "-secret", "y", "-date", "yesterday"},
		{"-id", "x", "-secret", "y", "-H", "no colon"},
		{"-id", "x", "-secret", "y", "-algorithm", "md5"},
	} {
		if err := run(args, &bytes.Buffer{}, time.Now()); err == nil {
			t.Errorf("%v: no error", strings.Join(args, " "))
		}
	}
}
