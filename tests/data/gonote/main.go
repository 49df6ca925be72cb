package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	switch os.Args[1] {
	case "open":
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		msg, _ := io.ReadAll(os.Stdin)
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(n.Text)
	case "sign":
		skey, vkey, _ := note.GenerateKey(rand.Reader, os.Args[2])
		s, _ := note.NewSigner(skey)
		text, _ := io.ReadAll(os.Stdin)
		msg, err := note.Sign(&note.Note{Text: string(text)}, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(vkey)
		fmt.Print(string(msg))
	}
}
