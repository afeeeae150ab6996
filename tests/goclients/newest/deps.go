//go:build tools

// Package goclients pins the newest Sarama and kafka-go in go.mod: their test
// programs are the Debian ones' sources (tests/goclients/sarama, kafkago), laid
// into this module by build.sh with -overlay, so `go mod tidy` would not see them.
package goclients

import (
	_ "github.com/IBM/sarama"
	_ "github.com/segmentio/kafka-go"
)
