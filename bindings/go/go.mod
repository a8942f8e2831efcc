module libescrow/bindings/go

go 1.19
