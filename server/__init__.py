"""连心桥 Lianxin: the union's 1+X+100 service for construction workers."""
