module github.com/esc-csi/esc-csi/peers/readers

go 1.25.8

require (
	github.com/joho/godotenv v1.5.1
	gopkg.in/yaml.v3 v3.0.1
)
