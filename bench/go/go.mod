module escrowbench

go 1.19

require libescrow/bindings/go v0.0.0

replace libescrow/bindings/go => ../../bindings/go
