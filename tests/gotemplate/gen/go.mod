module gotemplategen

go 1.26
