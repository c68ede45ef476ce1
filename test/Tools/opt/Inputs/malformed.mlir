func.func @f() {
  return
}
func.func @g(%a: f32 {
